"""Files in and out, one module per format: structures, OmniXAS text, Lightshow trees, predictions, measured spectra."""
