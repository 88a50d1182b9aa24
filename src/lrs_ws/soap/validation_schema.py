"""The XML Schema requests are validated against, built in memory.

spyne builds it by writing one `.xsd` file per namespace to a fresh temporary directory and parsing them back
(`XmlSchema.build_validation_schema`). Every worker does that when it starts, so with TMPDIR full no worker
could start, and gunicorn stops when a worker fails to boot. Here the same schema documents are serialised to
bytes and their `xs:import`s are answered from memory: nothing is written anywhere.
"""

from __future__ import annotations

from typing import Any

from lxml import etree


class _InMemory(etree.Resolver):
    def __init__(self, documents: dict[str, bytes]) -> None:
        super().__init__()
        self.documents = documents

    def resolve(self, system_url: str | None, public_id: str | None, context: Any) -> Any:
        name = (system_url or "").rsplit("/", 1)[-1]
        if name in self.documents:
            return self.resolve_string(self.documents[name], context, base_url=name)
        return None


def build_validation_schema(xml_schema: Any) -> etree.XMLSchema:
    """The XMLSchema of a spyne interface document (`app.interface.docs.xml_schema`), without files."""
    xml_schema.build_schema_nodes(with_schema_location=True)
    interface = xml_schema.interface
    documents = {f"{prefix}.xsd": etree.tostring(node) for prefix, node in xml_schema.schema_dict.items()}
    main = f"{interface.get_namespace_prefix(interface.tns)}.xsd"
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    parser.resolvers.add(_InMemory(documents))
    return etree.XMLSchema(etree.fromstring(documents[main], parser, base_url=main))
