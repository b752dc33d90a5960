"""Adapter: record versions, git state, resolved config and input checksums."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.io import write_json
from efficacy.provenance import provenance

write_json(provenance(config=snakemake.params.config, inputs=list(snakemake.input)), snakemake.output[0])
