"""Export: text-in SavedModels for TF Serving, and the checks that they load and agree."""
