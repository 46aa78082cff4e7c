# The lifecycle tables and the certificate register's re-review requests were added side by side;
# neither touches the other's tables, so joining the two lines of migrations changes nothing.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("safety", "0003_lifecycle"),
        ("safety", "0004_control_cites_certificate_register"),
    ]

    operations = []
