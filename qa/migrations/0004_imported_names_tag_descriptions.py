"""Imported authors' names (Users.xml), imported tag descriptions (Tags.xml) and the
credited author of imported revisions (PostHistory.xml).

On SQLite each column is added with a plain `ALTER TABLE ... ADD COLUMN`: Django's
SQLite schema editor would otherwise rebuild `qa_question` (copy, drop, rename), and
dropping the table drops the FTS5 triggers that migration 0003 put on it, silently
stopping the search index from following new questions. Other databases use the
ordinary schema editor.
"""

from django.db import migrations, models

FIELDS = [
    (
        "answer",
        "source_author_name",
        models.CharField(
            blank=True,
            default="",
            help_text="The author's name on the source site.",
            max_length=100,
        ),
    ),
    (
        "question",
        "source_author_name",
        models.CharField(
            blank=True,
            default="",
            help_text="The author's name on the source site.",
            max_length=100,
        ),
    ),
    (
        "revision",
        "source_author",
        models.CharField(
            blank=True,
            default="",
            help_text="An imported revision's author there.",
            max_length=100,
        ),
    ),
    (
        "tag",
        "description",
        models.TextField(
            blank=True, default="", help_text="Plain text; an imported tag's wiki excerpt."
        ),
    ),
    (
        "tag",
        "description_source",
        models.URLField(
            blank=True,
            default="",
            help_text="Where an imported description came from (credit).",
        ),
    ),
]

SQLITE_TYPES = {"CharField": "varchar(100)", "TextField": "text", "URLField": "varchar(200)"}


def _add(apps, schema_editor):
    for model_name, name, _field in FIELDS:
        model = apps.get_model("qa", model_name)
        field = model._meta.get_field(name)
        if schema_editor.connection.vendor == "sqlite":
            column = SQLITE_TYPES[type(field).__name__]
            schema_editor.execute(
                f'ALTER TABLE "{model._meta.db_table}" ADD COLUMN "{field.column}" '
                f"{column} NOT NULL DEFAULT ''"
            )
        else:
            schema_editor.add_field(model, field)


def _remove(apps, schema_editor):
    for model_name, name, _field in FIELDS:
        model = apps.get_model("qa", model_name)
        field = model._meta.get_field(name)
        if schema_editor.connection.vendor == "sqlite":
            schema_editor.execute(
                f'ALTER TABLE "{model._meta.db_table}" DROP COLUMN "{field.column}"'
            )
        else:
            schema_editor.remove_field(model, field)


class Migration(migrations.Migration):
    dependencies = [("qa", "0003_search_index")]

    # The state first, so that the RunPython below sees the new fields (forwards and back).
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(model_name=model_name, name=name, field=field)
                for model_name, name, field in FIELDS
            ]
        ),
        migrations.RunPython(_add, _remove),
    ]
