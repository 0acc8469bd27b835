"""The alert binding: a validated site config becomes the processor's ``AlertSetup``, once at start.

Every rule of ``alerts.yaml`` is bound to each subject its source declares (thresholds resolved, messages
registered in the catalogue, each subject located on the map), each source adds the rules of its own section and its
settings, and the ids a runtime ticks are gathered by partition-key kind. It only iterates the registry
(``analytics.sources.SOURCES``): nothing here names a source.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import replace

from pydantic import BaseModel

from analytics.flood import AlarmRules
from analytics.rules import AlertRule
from analytics.setup import AlertSetup
from analytics.sources import SOURCES
from ioc import i18n
from ioc.config.models import (
    ALERT_CATEGORIES,
    ORDERED_CATEGORIES,
    AlertRuleConfig,
    RuleMessage,
    SiteConfig,
    reference_value,
)
from ioc.events import Severity
from ioc.geo import AreaIndex

logger = logging.getLogger(__name__)


def alert_setup(
    config: SiteConfig, areas: AreaIndex | None, level_rules: Mapping[str, AlarmRules] | None = None
) -> AlertSetup:
    """Bind every alert rule to its subjects, add each source's own rules and settings, gather the ticked ids."""
    rules: list[AlertRule] = []
    for rule in config.alerts.rules:
        rules += bind_rule(config, rule, areas)
    subjects: dict[str, tuple[str, ...]] = {}
    setup = AlertSetup(level_rules=level_rules or {})
    for source in SOURCES.values():
        rules += source.builtin_rules(config, areas)
        if source.subject_kind is not None:
            known = subjects.get(source.subject_kind, ())
            subjects[source.subject_kind] = known + tuple(
                s for s in source.tick_subjects(config) if s not in known
            )
        setup = source.configure(setup, config)
    return replace(setup, rules=tuple(rules), subjects=subjects)


def bind_rule(config: SiteConfig, rule: AlertRuleConfig, areas: AreaIndex | None) -> list[AlertRule]:
    """Return one ``AlertRule`` per subject of a config rule (subjects lacking a referenced threshold are skipped)."""
    source = SOURCES[rule.source]
    message_key = register_message(rule.id, rule.message)
    resolved_key = register_message(f"{rule.id}.resolved", rule.resolved_message) if rule.resolved_message else None
    known = dict(source.subjects(config, rule.metric))
    chosen = rule.subjects if rule.subjects is not None else list(known)
    if source.wildcard_rules and rule.subjects is None:
        chosen = ["*"]
    bound = []
    for subject in chosen:
        model = next(iter(known.values()), None) if subject == "*" else known[subject]
        levels = _levels(rule, model)
        if levels is None:
            logger.info("alert rule %s: %s has no value for its threshold reference; not watched", rule.id, subject)
            continue
        area, params = source.details(config, subject, rule.metric, areas)
        bound.append(
            AlertRule(
                id=rule.id,
                source=rule.source,
                observes=source.observes,
                subject=subject,
                metric=rule.metric,
                op=rule.condition.op,
                levels=levels,
                for_s=rule.for_s,
                clear_for_s=rule.clear_for_s,
                hysteresis=rule.condition.hysteresis,
                update_delta=rule.update_delta,
                area_code=rule.area_code or area,
                message_key=message_key,
                resolved_key=resolved_key or message_key,
                params=params,
                categories=ALERT_CATEGORIES[rule.metric] if rule.metric in ORDERED_CATEGORIES else (),
            )
        )
    return bound


def _levels(rule: AlertRuleConfig, model: BaseModel | None) -> tuple[tuple[Severity, float | str], ...] | None:
    cond = rule.condition
    raw = {rule.severity: cond.value} if cond.value is not None and rule.severity else dict(cond.levels or {})
    out: list[tuple[Severity, float | str]] = []
    for sev, th in sorted(raw.items(), key=lambda kv: kv[0].rank):
        if isinstance(th, str) and rule.metric not in ALERT_CATEGORIES:
            value = reference_value(model, th) if model is not None else None
            if value is None:
                return None
            out.append((sev, value))
        else:
            out.append((sev, th))
    return tuple(out)


def register_message(name: str, message: RuleMessage) -> str:
    """Register a rule's templates in the i18n catalog under a key that changes when the text does."""
    digest = hashlib.sha256(f"{message.vi}\x00{message.en}".encode()).hexdigest()[:8]
    key = f"alert.rule.{name}.{digest}"
    i18n.register({key: (message.vi, message.en)})
    return key
