"""Query mistakes both checkers must report."""

from odm import EmbeddedModel, Model, query


class Address(EmbeddedModel):
    city: str


class Customer(Model):
    name: str
    tags: list[str] = []
    address: Address | None = None


by_typo = Customer.nmae == "x"  # E: mypy[attr-defined] pyright[reportAttributeAccessIssue]
query.eq(Customer.nmae, "x")  # E: mypy[attr-defined] pyright[reportAttributeAccessIssue]
by_city = Customer.address.city == "Paris"  # E: mypy[union-attr] pyright[reportOptionalMemberAccess]
Customer.tags.all(["a"])  # E: mypy[attr-defined] pyright[reportAttributeAccessIssue]
combined = query.eq(Customer.name, "x") & 3  # E: mypy[operator] pyright[reportOperatorIssue]
