-- Experiments, runs, their data, datasets and MLflow 3 logged models.
CREATE TABLE experiments (
    experiment_id     INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    artifact_location TEXT    NOT NULL,
    lifecycle_stage   TEXT    NOT NULL DEFAULT 'active',
    creation_time     INTEGER NOT NULL,
    last_update_time  INTEGER NOT NULL
);
CREATE INDEX experiments_by_creation ON experiments (creation_time);

CREATE TABLE experiment_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id),
    key           TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    PRIMARY KEY (experiment_id, key)
) WITHOUT ROWID;

CREATE TABLE runs (
    run_uuid        TEXT    PRIMARY KEY,
    experiment_id   INTEGER NOT NULL REFERENCES experiments (experiment_id),
    name            TEXT    NOT NULL DEFAULT '',
    user_id         TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL,
    start_time      INTEGER,
    end_time        INTEGER,
    artifact_uri    TEXT    NOT NULL,
    lifecycle_stage TEXT    NOT NULL DEFAULT 'active',
    deleted_time    INTEGER
);
-- Serves the default search order (start_time DESC, run_uuid) within experiments.
CREATE INDEX runs_by_experiment ON runs (experiment_id, start_time DESC, run_uuid);

CREATE TABLE params (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX params_by_key_value ON params (key, value);

CREATE TABLE tags (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX tags_by_key_value ON tags (key, value);

-- Every point of every metric. The key makes exact duplicates (a retried request) no-ops and
-- serves history reads in MLflow's order (timestamp, step, value) with keyset paging.
CREATE TABLE metrics (
    run_uuid       TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    step           INTEGER NOT NULL,
    timestamp      INTEGER NOT NULL,
    value          REAL    NOT NULL,
    is_nan         INTEGER NOT NULL DEFAULT 0,
    dataset_name   TEXT,
    dataset_digest TEXT,
    model_id       TEXT,
    PRIMARY KEY (run_uuid, key, timestamp, step, value, is_nan)
) WITHOUT ROWID;

-- The latest point of each metric of each run (max step, then timestamp, then value).
CREATE TABLE latest_metrics (
    run_uuid  TEXT    NOT NULL,
    key       TEXT    NOT NULL,
    step      INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    value     REAL    NOT NULL,
    is_nan    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_by_key_value ON latest_metrics (key, value);

CREATE TABLE datasets (
    dataset_uuid  TEXT    PRIMARY KEY,
    experiment_id INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    source_type   TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    schema        TEXT,
    profile       TEXT,
    UNIQUE (experiment_id, name, digest)
);

CREATE TABLE run_dataset_inputs (
    run_uuid     TEXT    NOT NULL,
    dataset_uuid TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (run_uuid, dataset_uuid)
) WITHOUT ROWID;
CREATE INDEX run_dataset_inputs_by_dataset ON run_dataset_inputs (dataset_uuid);

CREATE TABLE run_dataset_input_tags (
    run_uuid     TEXT NOT NULL,
    dataset_uuid TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (run_uuid, dataset_uuid, key)
) WITHOUT ROWID;

CREATE TABLE run_model_inputs (
    run_uuid TEXT NOT NULL,
    model_id TEXT NOT NULL,
    PRIMARY KEY (run_uuid, model_id)
) WITHOUT ROWID;

CREATE TABLE run_model_outputs (
    run_uuid TEXT    NOT NULL,
    model_id TEXT    NOT NULL,
    step     INTEGER NOT NULL,
    PRIMARY KEY (run_uuid, model_id)
) WITHOUT ROWID;

CREATE TABLE logged_models (
    model_id                  TEXT    PRIMARY KEY,
    experiment_id             INTEGER NOT NULL,
    name                      TEXT    NOT NULL,
    artifact_uri              TEXT    NOT NULL,
    status                    TEXT    NOT NULL,
    status_message            TEXT,
    model_type                TEXT    NOT NULL DEFAULT '',
    source_run_id             TEXT,
    creation_timestamp_ms     INTEGER NOT NULL,
    last_updated_timestamp_ms INTEGER NOT NULL,
    lifecycle_stage           TEXT    NOT NULL DEFAULT 'active'
);
CREATE INDEX logged_models_by_experiment ON logged_models (experiment_id, creation_timestamp_ms);

CREATE TABLE logged_model_tags (
    model_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
) WITHOUT ROWID;

CREATE TABLE logged_model_params (
    model_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
) WITHOUT ROWID;

CREATE TABLE logged_model_metrics (
    model_id       TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    step           INTEGER NOT NULL,
    timestamp      INTEGER NOT NULL,
    value          REAL    NOT NULL,
    is_nan         INTEGER NOT NULL DEFAULT 0,
    run_id         TEXT,
    dataset_name   TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (model_id, key, step, timestamp, value, is_nan)
) WITHOUT ROWID;
