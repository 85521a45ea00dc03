"""BUILD the knowledge base: fetch public release artifacts and extract facts statically.

tools/build_kb.py regenerates the bundled data (kb/data) with these; `stcompat kb update` runs the same
extractors on the user's machine for releases newer than the bundled data. May use the network.
"""
