"""READ a model folder into a ModelManifest: pure file reading, nothing imported or executed."""
