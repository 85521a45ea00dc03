"""Where users work: the pre-commit hooks, the pytest plugin (and, beside the package, action.yml).

Each module here is a thin adapter from a host tool's conventions (file names pre-commit passes,
pytest markers and options) to the public API; none decides anything the verbs below do not.
Nothing heavy is imported at module level: pytest loads the plugin in every run of every project
that has stcompat installed, so it must cost nothing until a verify runs.
"""
