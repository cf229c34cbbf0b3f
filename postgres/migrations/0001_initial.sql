-- chronik schema version 1: events, stream heads, the per-store head counter, snapshots
-- and checkpoints. Every table is keyed by `store`, so several named stores share one
-- database. JSON is kept as text, byte for byte what serde_json wrote: jsonb would
-- reorder keys, drop duplicate keys and reformat numbers.

-- One row per store: the position of its newest event. An append updates it last, in
-- the same transaction, so positions are gapless and become visible in order.
CREATE TABLE chronik_heads (
    store    text   NOT NULL PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0 CHECK (position >= 0)
);

CREATE TABLE chronik_events (
    store          text   NOT NULL,
    position       bigint NOT NULL CHECK (position >= 1),
    stream_id      text   NOT NULL,
    version        bigint NOT NULL CHECK (version >= 1),
    event_id       text   NOT NULL,
    event_type     text   NOT NULL,
    schema_version bigint NOT NULL,
    data           text   NOT NULL,
    metadata       text   NOT NULL,
    recorded_at    bigint NOT NULL,
    CONSTRAINT chronik_events_pkey PRIMARY KEY (store, position),
    CONSTRAINT chronik_events_stream_version UNIQUE (store, stream_id, version),
    CONSTRAINT chronik_events_event_id UNIQUE (store, event_id)
);
CREATE INDEX chronik_events_by_type ON chronik_events (store, event_type, position);
CREATE INDEX chronik_events_by_time ON chronik_events (store, recorded_at, position);

-- One row per stream: its version, the position and time of its last event.
CREATE TABLE chronik_streams (
    store         text   NOT NULL,
    stream_id     text   NOT NULL,
    version       bigint NOT NULL,
    last_position bigint NOT NULL,
    updated_at    bigint NOT NULL,
    CONSTRAINT chronik_streams_pkey PRIMARY KEY (store, stream_id)
);

CREATE TABLE chronik_snapshots (
    store          text   NOT NULL,
    stream_id      text   NOT NULL,
    version        bigint NOT NULL,
    schema_version bigint NOT NULL,
    state          text   NOT NULL,
    taken_at       bigint NOT NULL,
    CONSTRAINT chronik_snapshots_pkey PRIMARY KEY (store, stream_id, version)
);

CREATE TABLE chronik_checkpoints (
    store      text   NOT NULL,
    name       text   NOT NULL,
    position   bigint NOT NULL,
    state      text   NOT NULL,
    updated_at bigint NOT NULL,
    CONSTRAINT chronik_checkpoints_pkey PRIMARY KEY (store, name)
);
