-- Knowledge base: articles whose versions never change once published, and
-- the article version a reply cites.

CREATE TABLE kb_articles (
    id             uuid        PRIMARY KEY,
    tenant_id      text        NOT NULL,
    latest_version integer     NOT NULL,
    request_id     text        NOT NULL,
    created_at     timestamptz NOT NULL,
    CONSTRAINT kb_articles_one_per_request UNIQUE (tenant_id, request_id)
);

CREATE TABLE kb_article_versions (
    article_id   uuid        NOT NULL REFERENCES kb_articles (id),
    version      integer     NOT NULL,
    tenant_id    text        NOT NULL,
    title        text        NOT NULL,
    body         text        NOT NULL,
    topics       text[]      NOT NULL,
    channels     smallint[]  NOT NULL,
    published_by text        NOT NULL,
    published_at timestamptz NOT NULL,
    search       tsvector    GENERATED ALWAYS AS
                     (to_tsvector('simple', title || ' ' || body)) STORED,
    PRIMARY KEY (article_id, version)
);
CREATE INDEX kb_article_versions_search ON kb_article_versions USING gin (search);
CREATE INDEX kb_article_versions_topics ON kb_article_versions USING gin (topics);

CREATE FUNCTION kb_article_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'published article versions never change';
END
$$;
CREATE TRIGGER kb_article_versions_immutable BEFORE UPDATE OR DELETE ON kb_article_versions
    FOR EACH ROW EXECUTE FUNCTION kb_article_versions_immutable();

ALTER TABLE case_messages
    ADD COLUMN kb_article_id      uuid,
    ADD COLUMN kb_article_version integer,
    ADD FOREIGN KEY (kb_article_id, kb_article_version)
        REFERENCES kb_article_versions (article_id, version);
