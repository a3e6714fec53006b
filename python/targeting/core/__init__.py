"""The shared core every capability imports.

Settings, the spec input core and binding, SQL safety, warehouse access, the spec base,
formulas and the Bambi model layer.
"""
