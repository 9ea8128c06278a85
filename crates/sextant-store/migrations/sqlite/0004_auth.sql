-- Authentication and authorization (sextant server --auth), as MLflow's basic-auth app models
-- them: users, per-user grants on experiments and registered models, roles with pattern grants
-- (an id, a name or '*', DENY as an override) assigned to users, API tokens and UI sessions.
-- Secrets (passwords, tokens, session cookies) are never stored: passwords as argon2 hashes,
-- tokens and sessions as HMAC-SHA256 under the key in auth_settings.

CREATE TABLE auth_settings (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE auth_users (
    user_id       INTEGER PRIMARY KEY,
    username      TEXT   NOT NULL UNIQUE,
    password_hash TEXT   NOT NULL,
    is_admin      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

-- A user's own grant on one resource: resource_id is an experiment id or a model name.
CREATE TABLE auth_user_permissions (
    user_id       BIGINT NOT NULL,
    resource_type TEXT   NOT NULL,
    resource_id   TEXT   NOT NULL,
    permission    TEXT   NOT NULL,
    PRIMARY KEY (user_id, resource_type, resource_id)
);
CREATE INDEX auth_user_permissions_by_resource ON auth_user_permissions (resource_type, resource_id);

CREATE TABLE auth_roles (
    role_id     INTEGER PRIMARY KEY,
    workspace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    UNIQUE (workspace, name)
);

CREATE TABLE auth_role_permissions (
    role_permission_id INTEGER PRIMARY KEY,
    role_id            BIGINT NOT NULL,
    resource_type      TEXT   NOT NULL,
    resource_pattern   TEXT   NOT NULL,
    permission         TEXT   NOT NULL,
    UNIQUE (role_id, resource_type, resource_pattern)
);

CREATE TABLE auth_user_roles (
    assignment_id INTEGER PRIMARY KEY,
    user_id       BIGINT NOT NULL,
    role_id       BIGINT NOT NULL,
    UNIQUE (user_id, role_id)
);
CREATE INDEX auth_user_roles_by_role ON auth_user_roles (role_id);

CREATE TABLE auth_tokens (
    token_id     TEXT   NOT NULL PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    name         TEXT   NOT NULL,
    secret_hash  TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX auth_tokens_by_user ON auth_tokens (user_id);

CREATE TABLE auth_sessions (
    secret_hash TEXT   NOT NULL PRIMARY KEY,
    user_id     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX auth_sessions_by_user ON auth_sessions (user_id);
