"""Fakes of the conferencing services the portal hands off to: real HTTPS servers on threads
(127.0.0.1, a throw-away CA) that follow each documented protocol exactly, so the portal's
provider code runs unchanged against them. Fixtures: tests/fakes/fixtures.py."""
