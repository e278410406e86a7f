"""Offline models: located in installed packages, verified, loaded by local path."""
