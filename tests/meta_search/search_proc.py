"""A search in its own process, for the kill -9 resume test:
python -m tests.meta_search.search_proc DB_URL SERVER_URL RUN_ID"""
import asyncio
import sys

from crib.storage import open_database
from tests.meta_search.helpers import run_search, search_config


def main() -> None:
    db_url, url, run_id = sys.argv[1:4]
    engine = open_database(db_url)
    _, result = asyncio.run(run_search(engine, url, run_id,
                                       search_config(generations=2, val_size=6)))
    print(result.model_dump_json())


if __name__ == "__main__":
    main()
