"""The capability matrix: what each PMS can do, read from its connector's declarations.

``syncd pms list|show``, ``docs/pms.md`` and (later) the admin API all
present these profiles; none of them keeps its own copy of the facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncd.connectors.base import Connector
from syncd.connectors.registry import get_connector_class, known_vendors
from syncd.domain import Capability
from syncd.errors import ConfigError
from syncd.jobs import load_jobs
from syncd.models import MODEL_ORDER


@dataclass(frozen=True, slots=True)
class ModelSupport:
    """What a PMS can do with one unified model."""

    model: str
    read: bool
    create: bool
    update: bool
    #: Dates the PMS can filter the model by (``updated``, ``created``).
    date_fields: tuple[str, ...]
    #: The date filter syncd's default job uses (``none``: always a full pull).
    job_date_filter: str | None
    #: Unified fields a create accepts, and an update.
    create_fields: tuple[str, ...]
    update_fields: tuple[str, ...]
    #: Fields a create requires.
    create_required: tuple[str, ...] = ()
    #: What the PMS's writes of the model cannot do (topic → note), creates then updates.
    write_limits: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One credential a PMS asks for, as a form shows it."""

    key: str
    label: str
    help: str
    required: bool


@dataclass(frozen=True, slots=True)
class PmsProfile:
    """One PMS: identity, credentials, limits and per-model support."""

    vendor: str
    display_name: str
    credential_keys: tuple[str, ...]
    optional_credential_keys: tuple[str, ...]
    rate_limit: str | None
    rate_limit_source: str | None
    #: The request rate syncd's default job allows itself (per second).
    job_rate_limit: float | None
    option_keys: tuple[tuple[str, str], ...]
    models: tuple[ModelSupport, ...]
    #: Required credentials first, each with its label and help.
    credential_fields: tuple[CredentialField, ...] = ()

    @property
    def incremental_models(self) -> tuple[str, ...]:
        """Models the PMS can list by update time."""
        return tuple(m.model for m in self.models if "updated" in m.date_fields)


def pms_profile(vendor: str) -> PmsProfile:
    """The profile of ``vendor`` (case-insensitive); ConfigError if unknown."""
    cls = get_connector_class(vendor)
    caps = cls.capabilities()
    try:
        jobs = load_jobs(cls.vendor)
    except ConfigError:  # a vendor without a jobs file still has a profile
        jobs = None
    models = []
    for model in (m for m in MODEL_ORDER if m in caps):
        allowed = caps[model]
        try:
            job_filter = jobs.job(model).date_filter if jobs is not None else None
        except KeyError:
            job_filter = None
        models.append(
            ModelSupport(
                model=model,
                read=Capability.READ in allowed,
                create=Capability.CREATE in allowed,
                update=Capability.UPDATE in allowed,
                date_fields=tuple(sorted(cls.date_fields(model))),
                job_date_filter=job_filter,
                create_fields=tuple(sorted(cls.writable_fields(model, Capability.CREATE))),
                update_fields=tuple(sorted(cls.writable_fields(model, Capability.UPDATE))),
                create_required=tuple(sorted(cls.required_write_fields(model, Capability.CREATE))),
                write_limits=_limits(cls, model),
            )
        )
    spec = cls.rate_limit
    return PmsProfile(
        vendor=cls.vendor,
        display_name=cls.display_name or cls.vendor,
        credential_keys=tuple(cls.credential_keys),
        optional_credential_keys=tuple(cls.optional_credential_keys),
        rate_limit=spec.describe() if spec is not None else None,
        rate_limit_source=spec.source or None if spec is not None else None,
        job_rate_limit=jobs.rate_limit_per_second if jobs is not None else None,
        option_keys=tuple(sorted(cls.option_keys.items())),
        models=tuple(models),
        credential_fields=_credential_fields(cls),
    )


def _credential_fields(cls: type[Connector]) -> tuple[CredentialField, ...]:
    fields = []
    for key in (*cls.credential_keys, *cls.optional_credential_keys):
        label, help_text = cls.credential_labels.get(key, (key.replace("_", " ").capitalize(), ""))
        fields.append(CredentialField(key, label, help_text, key in cls.credential_keys))
    return tuple(fields)


def _limits(cls: type[Connector], model: str) -> tuple[tuple[str, str], ...]:
    seen: dict[str, str] = {}
    for op in (Capability.CREATE, Capability.UPDATE):
        for topic, note in cls.write_limits(model, op).items():
            seen.setdefault(topic, note)
    return tuple(seen.items())


def pms_profiles() -> list[PmsProfile]:
    """Every PMS syncd has a connector for, by vendor code."""
    return [pms_profile(v) for v in known_vendors()]


def profile_json(profile: PmsProfile) -> dict[str, object]:
    """A profile as plain JSON data (for ``--json`` and the admin API)."""
    return {
        "vendor": profile.vendor,
        "name": profile.display_name,
        "credential_keys": list(profile.credential_keys),
        "optional_credential_keys": list(profile.optional_credential_keys),
        "rate_limit": profile.rate_limit,
        "rate_limit_source": profile.rate_limit_source,
        "job_rate_limit_per_second": profile.job_rate_limit,
        "options": dict(profile.option_keys),
        "incremental_models": list(profile.incremental_models),
        "models": {
            m.model: {
                "read": m.read,
                "create": m.create,
                "update": m.update,
                "date_fields": list(m.date_fields),
                "job_date_filter": m.job_date_filter,
                "create_fields": list(m.create_fields),
                "update_fields": list(m.update_fields),
                "create_required": list(m.create_required),
                "write_limits": dict(m.write_limits),
            }
            for m in profile.models
        },
    }
