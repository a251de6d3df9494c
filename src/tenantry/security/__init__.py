"""Passwords, access tokens and refresh tokens."""
