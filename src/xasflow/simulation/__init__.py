"""FEFF10 simulation: FEFF card sets (``feff_cards``), inputs, runner, campaign trees and campaigns."""
