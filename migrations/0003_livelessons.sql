-- Livesessions and livelessons: the learner-facing state the workflows drive.
--
-- A livelesson pins the lesson version it was created from (slug, content_hash) and keeps a
-- copy of the image definitions its endpoints use, so neither a curriculum re-import nor an
-- image change alters a running lab. Jobs reference livelessons by id only (in their args
-- and serial_key `livelesson:<id>`), so the audit trail outlives the state.

create type livelesson_status as enum ('INITIALIZED', 'BOOTING', 'CONFIGURATION', 'READY', 'ERROR');

create table livesessions (
    id             text        primary key check (id ~ '^[a-z0-9]{1,32}$'),
    source_ip      text,
    persistent     boolean     not null default false,
    created_at     timestamptz not null default now(),
    last_active_at timestamptz not null default now()
);

create index livesessions_source_ip on livesessions (source_ip);

create table livelessons (
    id              text        primary key check (id ~ '^[a-z0-9]{10}$'),
    session_id      text        not null references livesessions (id),
    lesson_slug     text        not null,
    lesson_hash     text        not null,
    status          livelesson_status not null default 'INITIALIZED',
    current_stage   integer     not null check (current_stage >= 0),
    guide_type      text        not null,
    guide_contents  text        not null default '',
    -- Host of the jupyter guide's ingress (empty when the lesson has none).
    guide_domain    text        not null default '',
    healthy_tests   integer     not null default 0,
    total_tests     integer     not null default 0,
    -- Set with status ERROR: why, in which step, and the logs captured then.
    error_reason    text,
    error_step      text,
    error_logs      text,
    -- Image definitions of the endpoints, copied at creation.
    images          jsonb       not null,
    -- True once a DELETE is requested: the row stays until the namespace is gone, but no
    -- longer blocks a new livelesson of the same lesson in the same session.
    deleting        boolean     not null default false,
    created_at      timestamptz not null default now(),
    last_active_at  timestamptz not null default now(),
    ready_at        timestamptz,
    foreign key (lesson_slug, lesson_hash)
        references curriculum_lesson_versions (slug, content_hash)
);

-- At most one unfinished livelesson per (session, lesson): the database decides, not a
-- check-then-act in the API.
create unique index livelessons_one_per_session_lesson
    on livelessons (session_id, lesson_slug) where not deleting;
create index livelessons_last_active on livelessons (last_active_at);

create table live_endpoints (
    livelesson_id      text    not null references livelessons (id) on delete cascade,
    name               text    not null,
    -- Provisioning order (lesson order; the jupyter guide endpoint comes last).
    position           integer not null,
    image              text    not null,
    configuration_type text,
    -- Presentation ports then additional ports, without repeats.
    ports              integer[] not null,
    -- [{name, port, type, hepDomain}]
    presentations      jsonb   not null default '[]',
    -- The endpoint's Service ClusterIP once known.
    host               text,
    reachable          boolean not null default false,
    primary key (livelesson_id, name)
);
