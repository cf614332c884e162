"""ReasonCode → the feature whose value the evidence packet shows for it.

Derived from the ranking's rules (``csx_core.ranking.reasons.DEFAULT_RULES``), the one table
that says which feature means what, so a code is never explained by a feature that could not
have produced it. Several features may map to one code (``ret_5s``, ``ret_60s``, …): the
first in ``names`` order wins, so passing the model's own ``feature_names`` shows a feature
the model actually uses.
"""

from __future__ import annotations

from collections.abc import Iterable

from csx_core.contracts.reasons import ReasonCode
from csx_core.ranking.reasons import DEFAULT_RULES, ReasonRule, match_rule


def feature_for_codes(
    names: Iterable[str], rules: tuple[ReasonRule, ...] = DEFAULT_RULES
) -> dict[ReasonCode, str]:
    """``{code: feature name}`` for every code some feature in ``names`` can produce."""
    out: dict[ReasonCode, str] = {}
    for name in names:
        rule = match_rule(name, rules)
        if rule is None:
            continue
        for code in (rule.positive, rule.negative):
            if code is not None:
                out.setdefault(code, name)
    return out
