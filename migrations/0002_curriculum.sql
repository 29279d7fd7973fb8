-- Curriculum: the lessons, images and collections imported from a curriculum directory.
--
-- Everything a livelesson needs later (guides, configuration files) is stored here, so the
-- scheduler never reads the curriculum directory again after `antidoted curriculum import`.
-- Definitions are kept as jsonb in the shape of `src/curriculum/model.rs` (camelCase keys,
-- as in the YAML); only the columns queries filter on are broken out.

-- The curriculum's own metadata (curriculum.meta.yaml). At most one row: the `id` column
-- can only hold `true`.
create table curriculum_meta (
    id boolean primary key default true check (id),
    definition jsonb not null,
    updated_at timestamptz not null default now()
);

create table curriculum_collections (
    slug text primary key,
    definition jsonb not null,
    updated_at timestamptz not null default now()
);

-- Images hold the SSH and configuration credentials (inside `definition`): the scheduler
-- needs them in clear to provision endpoints and run configuration jobs.
create table curriculum_images (
    slug text primary key,
    definition jsonb not null,
    updated_at timestamptz not null default now()
);

-- Every version of every lesson ever imported. Rows are never updated or deleted by an
-- import: a livelesson pins (slug, content_hash), so a re-import cannot change a running lab.
-- `content_hash` is the hex sha256 of the canonical serialization of (definition, files).
create table curriculum_lesson_versions (
    slug text not null,
    content_hash text not null check (content_hash ~ '^[0-9a-f]{64}$'),
    -- The lesson definition (lesson.meta.yaml after validation, with the per-stage
    -- configuration file names resolved).
    definition jsonb not null,
    -- Guides and configuration files, as an object from the path relative to the lesson
    -- directory (e.g. "stage0/configs/r1-junos.txt") to the file's text.
    files jsonb not null,
    created_at timestamptz not null default now(),
    primary key (slug, content_hash)
);

-- The lessons of the current curriculum, each pointing at its current version. A lesson
-- that disappears from the curriculum loses its row here; its versions stay.
create table curriculum_lessons (
    slug text primary key,
    current_hash text not null,
    updated_at timestamptz not null default now(),
    foreign key (slug, current_hash) references curriculum_lesson_versions (slug, content_hash)
);
