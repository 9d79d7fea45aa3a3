"""Finding the images an answer links to (for re-hosting)."""

from __future__ import annotations

from pipe_service.front.pipe.rehost import linked_image_urls


def test_markdown_images_are_found_in_order_without_duplicates() -> None:
    text = (
        "See ![a](https://x.example/a.png) and ![b](<https://x.example/b.jpg>) "
        "and again ![a2](https://x.example/a.png), a [link](https://x.example/page) "
        "and ![local](/api/v1/files/1/content)."
    )
    assert linked_image_urls(text, 10) == ["https://x.example/a.png", "https://x.example/b.jpg"]


def test_at_most_the_limit_is_returned() -> None:
    text = " ".join(f"![{n}](https://x.example/{n}.png)" for n in range(6))
    assert len(linked_image_urls(text, 4)) == 4
