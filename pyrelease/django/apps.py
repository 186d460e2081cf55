"""The Django app `pyrelease` (INSTALLED_APPS: "pyrelease.django")."""

from django.apps import AppConfig


class PyreleaseConfig(AppConfig):
    name = "pyrelease.django"
    label = "pyrelease"
    verbose_name = "pyrelease"
