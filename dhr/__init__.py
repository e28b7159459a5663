"""dhr: a learning repository and text-mining tool for Domestic Homicide Reviews.

The pipeline, one module per stage:

    extract -> clean -> segment -> metadata -> store     (dhr.ingest.ingest_paths)
    store -> tag                                         (dhr.tag.tag, dhr.tag.tag_store)
    store -> index -> search                             (dhr.index.SearchIndex)
    store -> graph, export                               (dhr.graph, dhr.export)

`dhr.pipeline.build` runs them all; the `dhr` command and the explorer call the same functions.
"""

__version__ = "0.1.0"
