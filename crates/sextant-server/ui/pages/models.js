// Models: registered models with review counts and aliases; a model's versions with review
// status, aliases (protected ones marked), approve/reject with a comment, promotion to an
// alias (the protected-alias rule's refusal shown as the server words it) and the audit log.

import { h, sextant, fmtTime, inline, keyboardTable, status } from '../util.js';

const enc = encodeURIComponent;

export async function renderModels(el) {
  el.append(h('h1', {}, 'Registered models'));
  const r = await sextant('models');
  const models = r.models || [];
  if (!models.length) { el.append(h('p', { class: 'muted', id: 'no-models' }, 'No registered models yet. Register one with mlflow.register_model or sextant models.')); return; }
  const t = h('table', { class: 'grid', id: 'models-table' },
    h('thead', {}, h('tr', {}, ['Name', 'Versions', 'Latest', 'Pending review', 'Approved', 'Rejected', 'Aliases', 'Updated'].map((c) => h('th', {}, c)))),
    h('tbody', {}, models.map((m) => h('tr', {},
      h('td', {}, h('a', { href: `#/models/${enc(m.name)}`, class: 'model-link' }, m.name)),
      h('td', { class: 'num' }, m.versions), h('td', { class: 'num' }, m.latest_version ?? '—'),
      h('td', { class: 'num' }, m.pending_review), h('td', { class: 'num' }, m.approved), h('td', { class: 'num' }, m.rejected),
      h('td', {}, (m.aliases || []).map((a) => [h('span', { class: `badge alias${a.protected ? ' protected' : ''}` }, `@${a.alias} → v${a.version}`), ' '])),
      h('td', {}, fmtTime(m.last_updated_timestamp))))));
  el.append(h('div', { class: 'table-wrap' }, t));
  keyboardTable(t);
}

export async function renderModel(el, name, q, stale = () => false) {
  const [shown, audit] = await Promise.all([sextant(`models/${enc(name)}`), sextant(`models/${enc(name)}/audit`)]);
  const model = shown.model;
  const versions = shown.versions || [];
  const protectedAliases = new Set(shown.protected_aliases || []);
  const aliases = model.aliases || [];
  // Never from a page the user has left (the promotion reloads 600 ms later).
  const reload = (v) => { if (!stale()) location.hash = `#/models/${enc(name)}${v ? `?v=${enc(v)}&t=${Date.now()}` : `?t=${Date.now()}`}`; };
  el.append(h('div', { class: 'crumbs' }, h('a', { href: '#/models' }, 'Models'), ' /'), h('h1', {}, model.name),
    model.description ? h('p', {}, model.description) : null);

  // Aliases
  const aliasErr = h('div', { class: 'inline-error', hidden: true, id: 'alias-error' });
  const aliasRows = [...new Set([...aliases.map((a) => a.alias), ...protectedAliases])].sort().map((al) => {
    const a = aliases.find((x) => x.alias === al);
    const prot = protectedAliases.has(al);
    return h('tr', {}, h('td', {}, h('span', { class: `badge alias${prot ? ' protected' : ''}` }, `@${al}`)), h('td', {}, a ? `version ${a.version}` : '— (not set)'),
      h('td', {}, prot ? 'protected: only approved versions' : 'open'),
      h('td', {}, h('button', { class: 'secondary', onclick: async () => {
        const ok = await inline(aliasErr, () => sextant(`models/${enc(name)}/protected-aliases/${enc(al)}`, { method: prot ? 'DELETE' : 'PUT' }));
        if (ok) reload();
      } }, prot ? 'Unprotect' : 'Protect')));
  });
  el.append(h('section', { class: 'section' }, h('h2', {}, 'Aliases'),
    aliasRows.length ? h('table', { class: 'grid', id: 'aliases-table' }, h('thead', {}, h('tr', {}, ['Alias', 'Points to', 'Rule', ''].map((c) => h('th', {}, c)))), h('tbody', {}, aliasRows)) : h('p', { class: 'muted' }, 'No aliases.'),
    aliasErr));

  // Versions
  const chosen = q.get('v') || (versions.find((v) => v.review_status === 'pending_review') || versions[versions.length - 1] || {}).version;
  const vt = h('table', { class: 'grid', id: 'versions-table' },
    h('thead', {}, h('tr', {}, ['Version', 'Review', 'Status', 'Aliases', 'Run', 'Created', 'Source'].map((c) => h('th', {}, c)))),
    h('tbody', {}, versions.map((v) => h('tr', { class: v.version === chosen ? 'selected' : '', dataset: { version: v.version } },
      h('td', {}, h('a', { href: `#/models/${enc(name)}?v=${enc(v.version)}` }, `v${v.version}`)),
      h('td', {}, h('span', { class: `badge ${v.review_status}`, dataset: { review: v.review_status } }, v.review_status.replace('_', ' '))),
      h('td', {}, v.status || ''),
      h('td', {}, aliases.filter((a) => a.version === v.version).map((a) => [h('span', { class: `badge alias${protectedAliases.has(a.alias) ? ' protected' : ''}` }, `@${a.alias}`), ' '])),
      h('td', {}, v.run_id ? h('a', { href: `#/runs/${v.run_id}` }, v.run_id.slice(0, 12)) : '—'),
      h('td', {}, fmtTime(v.creation_timestamp)), h('td', { title: v.source || '' }, v.source || '')))));
  el.append(h('section', { class: 'section' }, h('h2', {}, `Versions (${versions.length})`), h('div', { class: 'table-wrap', style: 'max-height:320px' }, vt)));
  keyboardTable(vt);

  // Review and promotion of the chosen version
  if (chosen) {
    const review = (await sextant(`models/${enc(name)}/versions/${enc(chosen)}/review`)).review;
    const reviewErr = h('div', { class: 'inline-error', hidden: true, id: 'review-error' });
    const comment = h('textarea', { id: 'review-comment', rows: 2, cols: 60, 'aria-label': 'Review comment', placeholder: 'Comment (why approve or reject)' });
    const override = h('input', { type: 'checkbox', id: 'review-override' });
    const decide = (decision) => async () => {
      const ok = await inline(reviewErr, () => sextant(`models/${enc(name)}/versions/${enc(chosen)}/review`, { method: 'POST', body: { decision, comment: comment.value, override_failed_checks: override.checked } }));
      if (ok) { status(`Version ${chosen} ${decision === 'approve' ? 'approved' : 'rejected'}`); reload(chosen); }
    };
    const checks = review.checks || [];
    const promoteErr = h('div', { class: 'inline-error', hidden: true, id: 'promote-error', role: 'alert' });
    const promoteOk = h('div', { class: 'ok-note', hidden: true, id: 'promote-ok' });
    const alias = h('input', { id: 'promote-alias', list: 'alias-names', 'aria-label': 'Alias', placeholder: 'alias, e.g. production', size: 18 });
    const promote = h('form', { class: 'inline', id: 'promote-form', onsubmit: async (ev) => {
      ev.preventDefault();
      promoteOk.hidden = true;
      const a = alias.value.trim();
      const ok = await inline(promoteErr, async () => {
        if (!a) throw new Error('Name the alias to promote to.');
        return sextant(`models/${enc(name)}/aliases/${enc(a)}`, { method: 'PUT', body: { version: chosen } });
      });
      if (ok) { promoteOk.hidden = false; promoteOk.textContent = `@${a} now points to version ${chosen}.`; setTimeout(() => reload(chosen), 600); }
    } }, h('label', { for: 'promote-alias' }, `Promote v${chosen} to `), alias,
      h('datalist', { id: 'alias-names' }, [...new Set([...aliases.map((x) => x.alias), ...protectedAliases])].map((x) => h('option', { value: x }))),
      h('button', { type: 'submit', id: 'promote-btn' }, 'Promote'));
    el.append(h('section', { class: 'section', id: 'review-panel' }, h('h2', {}, `Version ${chosen}`),
      h('div', { class: 'grid2' },
        h('div', {}, h('table', { class: 'kvs' }, h('tbody', {},
          h('tr', {}, h('th', {}, 'Review'), h('td', {}, h('span', { class: `badge ${review.status}`, id: 'review-status' }, review.status.replace('_', ' ')))),
          review.decided_by ? h('tr', {}, h('th', {}, 'Decided by'), h('td', {}, `${review.decided_by} at ${fmtTime(review.decided_at)}`)) : null,
          review.comment ? h('tr', {}, h('th', {}, 'Comment'), h('td', {}, review.comment)) : null,
          review.overrode_failed_checks ? h('tr', {}, h('th', {}, 'Override'), h('td', {}, 'approved despite failed checks')) : null,
          h('tr', {}, h('th', {}, 'Report'), h('td', {}, review.report ? h('code', {}, review.report) : '—')),
          h('tr', {}, h('th', {}, 'Checks'), h('td', {}, checks.length ? h('ul', {}, checks.map((c) => h('li', {}, h('span', { class: `badge ${c.passed ? 'approved' : 'rejected'}` }, c.passed ? 'pass' : 'fail'), ` ${c.name}`, c.details ? ` — ${c.details}` : '', h('span', { class: 'chart-note' }, ` (${c.recorded_by}, ${fmtTime(c.recorded_at)})`)))) : 'none recorded'))))),
        h('div', {}, h('h3', {}, 'Decide'), comment, h('div', { class: 'toolbar' },
          h('button', { id: 'approve-btn', onclick: decide('approve') }, 'Approve'),
          h('button', { class: 'danger', id: 'reject-btn', onclick: decide('reject') }, 'Reject'),
          checks.some((c) => !c.passed) ? h('label', {}, override, ' Approve despite failed checks') : null), reviewErr,
          h('h3', {}, 'Promote'), promote, promoteErr, promoteOk))));
  }

  // Review history
  const entries = (audit.entries || []).slice().reverse();
  const at = h('table', { class: 'grid', id: 'audit-table' }, h('thead', {}, h('tr', {}, ['When', 'Version', 'Action', 'By', 'Comment', 'Details'].map((c) => h('th', {}, c)))),
    h('tbody', {}, entries.map((e) => h('tr', {}, h('td', {}, fmtTime(e.timestamp)), h('td', {}, e.version ?? '—'), h('td', {}, e.action), h('td', { title: `source: ${e.actor_source}` }, e.actor),
      h('td', {}, e.comment ?? ''), h('td', { class: 'mono', title: JSON.stringify(e.details) }, e.details && Object.keys(e.details).length ? JSON.stringify(e.details) : '')))));
  el.append(h('section', { class: 'section' }, h('h2', {}, `Review history (${entries.length})`), entries.length ? h('div', { class: 'table-wrap', style: 'max-height:360px' }, at) : h('p', { class: 'muted' }, 'Nothing recorded yet.')));
  if (entries.length) keyboardTable(at);
}
