"""From retrieved passages to an answer whose every claim is cited."""
