"""Mail to participants: composing invitations, calendar files and the outbox."""
