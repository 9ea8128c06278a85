-- The model registry (MLflow-compatible) and Sextant's review layer.
--
-- A registered model has a stable internal id, so a rename touches one row and everything
-- hanging off the model (versions, tags, aliases, protections, audit) follows it.

CREATE TABLE registered_models (
    model_key              TEXT   NOT NULL PRIMARY KEY,
    name                   TEXT   NOT NULL UNIQUE,
    creation_time          INTEGER NOT NULL,
    last_updated_time      INTEGER NOT NULL,
    description            TEXT   NOT NULL DEFAULT ''
);

CREATE TABLE registered_model_tags (
    model_key TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (model_key, key)
);

-- Deleted versions stay (deleted = 1) so a version number is never reused and the audit log
-- keeps pointing at something real. Every read filters them out.
CREATE TABLE model_versions (
    model_key              TEXT   NOT NULL,
    version                INTEGER NOT NULL,
    creation_time          INTEGER NOT NULL,
    last_updated_time      INTEGER NOT NULL,
    description            TEXT   NOT NULL DEFAULT '',
    user_id                TEXT,
    current_stage          TEXT   NOT NULL DEFAULT 'None',
    source                 TEXT   NOT NULL,
    run_id                 TEXT,
    run_link               TEXT   NOT NULL DEFAULT '',
    status                 TEXT   NOT NULL DEFAULT 'READY',
    model_id               TEXT,
    deleted                INTEGER NOT NULL DEFAULT 0,
    review_status          TEXT   NOT NULL DEFAULT 'pending_review',
    review_actor           TEXT,
    review_actor_source    TEXT,
    review_time            INTEGER,
    review_comment         TEXT,
    review_override        INTEGER NOT NULL DEFAULT 0,
    review_report          TEXT,
    PRIMARY KEY (model_key, version)
);
CREATE INDEX model_versions_by_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    model_key TEXT   NOT NULL,
    version   INTEGER NOT NULL,
    key       TEXT   NOT NULL,
    value     TEXT   NOT NULL,
    PRIMARY KEY (model_key, version, key)
);

CREATE TABLE registered_model_aliases (
    model_key TEXT   NOT NULL,
    alias     TEXT   NOT NULL,
    version   INTEGER NOT NULL,
    PRIMARY KEY (model_key, alias)
);

-- Aliases that may only point at approved versions.
CREATE TABLE protected_aliases (
    model_key    TEXT   NOT NULL,
    alias        TEXT   NOT NULL,
    created_by   TEXT   NOT NULL,
    created_time INTEGER NOT NULL,
    PRIMARY KEY (model_key, alias)
);

-- The latest result of each automated check of a version (every recording is also audited).
CREATE TABLE model_version_checks (
    model_key    TEXT   NOT NULL,
    version      INTEGER NOT NULL,
    check_name   TEXT   NOT NULL,
    passed       INTEGER NOT NULL,
    details      TEXT   NOT NULL DEFAULT '',
    recorded_by  TEXT   NOT NULL,
    recorded_at  INTEGER NOT NULL,
    PRIMARY KEY (model_key, version, check_name)
);

-- Append-only: rows are inserted, never updated or deleted. model_key is the model's identity
-- (it survives renames); model_name is its name when the entry was written.
CREATE TABLE registry_audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp    INTEGER NOT NULL,
    model_key    TEXT   NOT NULL,
    model_name   TEXT   NOT NULL,
    version      INTEGER,
    action       TEXT   NOT NULL,
    actor        TEXT   NOT NULL,
    actor_source TEXT   NOT NULL,
    comment      TEXT,
    details      TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX registry_audit_by_model ON registry_audit (model_key, id);
