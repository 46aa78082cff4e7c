import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from onboarding.services.framework import framework_load

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "data" / "framework.json"


class Command(BaseCommand):
    help = "Load the onboarding framework from a JSON file as a new version (nothing changes if it is the same)."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=str(DEFAULT_FILE))
        parser.add_argument("--publish", action="store_true", help="publish the loaded version")

    def handle(self, *args, path, publish, **options):
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            framework, created = framework_load(actor=None, data=data, publish=publish)
        except (OSError, json.JSONDecodeError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        verb = "Loaded" if created else "Unchanged:"
        self.stdout.write(
            f"{verb} {framework} ({framework.get_status_display().lower()}, "
            f"{framework.requirements.count()} requirements)"
        )
