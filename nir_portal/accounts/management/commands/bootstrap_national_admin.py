"""python manage.py bootstrap_national_admin: the first national admin of a new installation.

The password comes from the NIR_BOOTSTRAP_PASSWORD environment variable or is asked for twice at
the terminal; it is never a command-line argument (it would stay in the shell history and in the
process list). It must pass the portal's password rules. A password alone never sets up an
authenticator (docs/security.md), so the command prints an enrolment link for the new admin: it
works once, within 24 hours, after they sign in with the password. Should it expire, they sign in
and ask for a new one, which is emailed to them.
"""

import os
from getpass import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from nir_portal.accounts import enrolment
from nir_portal.accounts.services import enrolment_link_for_bootstrap, national_admin_bootstrap

PASSWORD_VARIABLE = "NIR_BOOTSTRAP_PASSWORD"  # noqa: S105  the name of a variable, not a password


class Command(BaseCommand):
    help = "Create the first national admin, with a membership of the national team's organisation."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--full-name", required=True)
        parser.add_argument("--ods-code", required=True, help="the national team's ODS code")
        parser.add_argument(
            "--organisation-name", required=True, help="used when the national organisation does not exist yet"
        )
        parser.add_argument(
            "--no-input", action="store_true", help=f"never prompt: the password must be in {PASSWORD_VARIABLE}"
        )

    def handle(self, *args, email, full_name, ods_code, organisation_name, no_input, **options):
        try:
            validate_email(email.strip())
        except ValidationError as error:
            raise CommandError(f"{email!r} is not an email address.") from error
        if len(full_name.strip()) < 2:
            raise CommandError("Give the person's full name.")
        password = self._password(no_input)
        try:
            membership, created = national_admin_bootstrap(
                email=email,
                full_name=full_name,
                password=password,
                ods_code=ods_code,
                organisation_name=organisation_name,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        where = f"{membership.organisation.name} ({membership.organisation.ods_code})"
        if created:
            link = enrolment_link_for_bootstrap(user=membership.user)
            self.stdout.write(
                f"{membership.user.email} is now a national admin of {where}. Give them this link to set up "
                f"their authenticator app (it works once, within 24 hours, after signing in with the password):\n"
                f"{enrolment.link_url(link)}\n"
                "Then they invite everyone else from the portal."
            )
        else:
            self.stdout.write(f"{membership.user.email} is already a national admin of {where}: nothing changed.")

    def _password(self, no_input: bool) -> str:
        password = os.environ.get(PASSWORD_VARIABLE, "")
        if password:
            return password
        if no_input or not self.stdin_is_interactive():
            raise CommandError(f"Set {PASSWORD_VARIABLE}, or run the command at a terminal to be asked for it.")
        password = getpass("Password: ")
        if password != getpass("Password (again): "):
            raise CommandError("The two passwords differ.")
        return password

    @staticmethod
    def stdin_is_interactive() -> bool:
        import sys

        return sys.stdin.isatty()
