-- Jobs: queued by a client, claimed by a worker, finished with the command's exit code.
CREATE TABLE jobs (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    command     TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    worker_id   TEXT,
    exit_code   INTEGER,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);

CREATE INDEX jobs_queued ON jobs (id) WHERE status = 'queued';
