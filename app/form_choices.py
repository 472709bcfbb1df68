"""Options of select and radio fields, in the form the installed WTForms wants."""

from __future__ import annotations

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) pairs

    def SelectChoice(value: str, label: object = None) -> tuple[str, object]:
        return (value, label if label is not None else value)


def choice(value: str, label: object = None):
    """One option of a select field."""
    return SelectChoice(value, label if label is not None else value)


def labels(choices) -> dict[str, object]:
    """Each option's label by its value: a stored value shown in words."""
    found = {}
    for option in choices:
        value, label = (
            (option.value, option.label) if hasattr(option, "value") else (option[0], option[1])
        )
        found[value] = label
    return found
