"""What pyproject.toml cannot say: the Alembic migrations, kept at the repository root, ship inside the
package as `lrs_ws.migrations` (with `lrs_ws/alembic.ini` beside them), so an installed wheel can migrate."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("src"), "lrs_ws.migrations", "lrs_ws.migrations.versions"],
    package_dir={"": "src", "lrs_ws.migrations": "migrations"},
    package_data={
        "lrs_ws": ["py.typed", "domain/common_passwords.txt"],
        "lrs_ws.migrations": ["script.py.mako", "../alembic.ini"],
    },
)
