"""Experiment drivers of record (the paper report and friends): they sit above training and the zoo.

Nothing in the library imports this package; the CLI's ``xasflow experiment`` runs it.
"""
