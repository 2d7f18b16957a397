"""A small product catalogue the fake storefronts sell from.

Prices are :class:`~decimal.Decimal` in the shop currency; ids are stable so that Shopify
(product/variant ids) and WooCommerce (product/variation ids) line items look alike across
runs. Weights make a few products best-sellers, as in a real shop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["PRODUCTS", "Product", "pick_lines"]


@dataclass(frozen=True)
class Product:
    """One sellable variant."""

    product_id: int
    variant_id: int
    sku: str
    title: str
    price: Decimal
    weight: int


def _p(n: int, sku: str, title: str, price: str, weight: int) -> Product:
    return Product(632910392 + n * 1117, 808950810 + n * 2231, sku, title, Decimal(price), weight)


PRODUCTS: tuple[Product, ...] = (
    _p(0, "TEE-BLK-M", "Organic Tee – Black / M", "24.00", 30),
    _p(1, "TEE-WHT-L", "Organic Tee – White / L", "24.00", 25),
    _p(2, "HOOD-GRY-M", "Heavy Hoodie – Grey / M", "69.90", 14),
    _p(3, "CAP-NVY", "Canvas Cap – Navy", "19.50", 12),
    _p(4, "SOCK-3PK", "Merino Socks (3-pack)", "29.00", 20),
    _p(5, "MUG-ENAMEL", "Enamel Mug", "14.00", 16),
    _p(6, "BAG-TOTE", 'Tote Bag "Market"', "18.00", 10),
    _p(7, "BOTTLE-750", "Steel Bottle 750 ml", "32.00", 9),
    _p(8, "JKT-RAIN-L", "Rain Jacket / L", "149.00", 4),
    _p(9, "BEANIE-RED", "Rib Beanie – Red", "22.00", 8),
    _p(10, "GIFT-25", "Gift Card €25", "25.00", 5),
    _p(11, "GIFT-100", "Gift Card €100", "100.00", 2),
    _p(12, "NB-A5-DOT", "Notebook A5 dotted", "12.50", 11),
    _p(13, "PEN-BRASS", "Brass Pen", "39.00", 3),
    _p(14, "CANDLE-FIG", "Candle – Fig & Cedar", "27.00", 7),
    _p(15, "BLANKET-WOOL", "Wool Blanket 130×180", "189.00", 2),
    _p(16, "APRON-DENIM", "Denim Apron", "45.00", 3),
    _p(17, "SCARF-CHECK", "Check Scarf", "55.00", 4),
    _p(18, "POSTER-A2", "Poster A2 – Alps/1972", "29.90", 5),
    _p(19, "SUN-SPF30", "Sunscreen SPF 30", "16.90", 6),
)
_WEIGHTS = [p.weight for p in PRODUCTS]


def pick_lines(rng: random.Random) -> list[tuple[Product, int]]:
    """Pick one to four distinct products with quantities, best-sellers more often."""
    count = rng.choices([1, 2, 3, 4], [55, 28, 12, 5])[0]
    chosen: dict[str, tuple[Product, int]] = {}
    while len(chosen) < count:
        product = rng.choices(PRODUCTS, _WEIGHTS)[0]
        chosen.setdefault(product.sku, (product, rng.choices([1, 2, 3], [80, 15, 5])[0]))
    return list(chosen.values())
