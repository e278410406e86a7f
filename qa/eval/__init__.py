"""Offline evaluation: the public test collections and the scores computed against them."""
