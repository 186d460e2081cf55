"""pyrelease 0.2.0: its numbered migrations up to 0014.release-heartbeat, its routines and
the release job. Reversed: pyrelease removed. Never edit it: a later release adds the next."""

from django.db import migrations

from pyrelease.django import downgrade_to, upgrade_to


class Migration(migrations.Migration):
    initial = True
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction
    dependencies: list[tuple[str, str]] = []
    operations = [
        migrations.RunPython(upgrade_to("0014.release-heartbeat"), downgrade_to(None)),
    ]
