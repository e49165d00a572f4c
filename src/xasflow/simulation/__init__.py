"""FEFF10 simulation: card sets, inputs, runner, campaign trees and campaigns."""
