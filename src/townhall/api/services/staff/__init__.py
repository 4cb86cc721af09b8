"""What the people who run an instance do: roles, invites, the review queue, sanctions,
the audit log and the word list. Every action is checked by `domain.staff` and logged."""
