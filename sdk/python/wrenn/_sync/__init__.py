# Generated from wrenn/_async by scripts/gen.py: do not edit.
