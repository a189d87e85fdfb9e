from chaincut.bootstrap import Services


def test_fresh_store_is_empty(services: Services) -> None:
    counts = services.store.counts()
    assert counts.people == counts.venues == counts.visits == 0
