"""`fastctr build`: images from a Dockerfile (issue 17).

The Dockerfile language (dockerfile, ignore), the build context (context),
the build cache (cache) and the builder that runs each instruction as a
step on the engine (builder).  cli -> build -> engine."""
