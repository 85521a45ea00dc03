"""READ an environment: the versions of the layers a model depends on, nothing imported."""
