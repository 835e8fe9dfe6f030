"""Full-text search indexes for the database in use (see qa/search.py).

PostgreSQL: a stored generated tsvector column (title weight A, body weight B) with a
GIN index. SQLite: an FTS5 external-content table kept in step by triggers.
"""

from django.db import migrations

PG_FORWARD = [
    """
    ALTER TABLE qa_question ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(html, '')), 'B')
    ) STORED
    """,
    "CREATE INDEX qa_question_search ON qa_question USING gin (search_vector)",
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS qa_question_search",
    "ALTER TABLE qa_question DROP COLUMN IF EXISTS search_vector",
]

SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE qa_question_fts USING fts5(
        title, body, content='qa_question', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER qa_question_fts_insert AFTER INSERT ON qa_question BEGIN
        INSERT INTO qa_question_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
    END
    """,
    """
    CREATE TRIGGER qa_question_fts_delete AFTER DELETE ON qa_question BEGIN
        INSERT INTO qa_question_fts(qa_question_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
    END
    """,
    """
    CREATE TRIGGER qa_question_fts_update AFTER UPDATE OF title, body ON qa_question BEGIN
        INSERT INTO qa_question_fts(qa_question_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
        INSERT INTO qa_question_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
    END
    """,
    "INSERT INTO qa_question_fts(qa_question_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS qa_question_fts_update",
    "DROP TRIGGER IF EXISTS qa_question_fts_delete",
    "DROP TRIGGER IF EXISTS qa_question_fts_insert",
    "DROP TABLE IF EXISTS qa_question_fts",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("qa", "0002_revisions_comments_follows_addressed")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
