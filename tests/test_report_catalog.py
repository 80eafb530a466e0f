"""`dltheory list` reads the experiments' metadata statically (no torch): it must equal the imported registry's."""

from dltheory import catalog
from dltheory.experiments import bibliography, registry


def test_static_metadata_equals_the_imported_registry():
    static = {x.id: x for x in catalog.read_static()}
    imported = {c.id: c for c in registry.all_experiments() if not c.id.startswith("testing/")}
    assert set(static) == set(imported)
    for exp_id, cls in imported.items():
        x = static[exp_id]
        assert (x.lecture, x.title, x.papers, x.summary) == (cls.lecture, cls.title, tuple(cls.papers), cls.summary()), exp_id


def test_catalog_adds_experiments_registered_outside_the_package():
    ids = [x.id for x in catalog.experiments()]
    assert "testing/quadratic" in ids and ids == [x.id for x in sorted(catalog.experiments(), key=lambda x: (x.lecture, x.id))]


def test_static_bibliography_and_status_agree_with_the_package():
    bib = catalog.bibliography()
    assert set(bib.PAPERS) == set(bibliography.PAPERS)
    implemented = {x.id for x in catalog.experiments()}
    for key, p in bibliography.PAPERS.items():
        assert catalog.paper_status(bib.PAPERS[key], implemented) == bibliography.status(p), key


def test_class_heads_keep_the_metadata_and_fall_back_on_odd_modules(tmp_path, monkeypatch):
    src = '''
from x import register
@register
class A(Experiment):
    """First line.

    more
    """
    id = "a/b"
    lecture = 3
    title = "T"
    papers = ("k",)

    class Config(ExperimentConfig):
        n: int = 1

    def run(self, config, log):
        pass
'''
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "a.py").write_text(src)
    monkeypatch.setattr(catalog, "EXPERIMENTS_DIR", tmp_path)
    assert catalog.read_static() == [catalog.ExperimentInfo("a/b", 3, "T", ("k",), "First line.")]
    (tmp_path / "mod" / "b.py").write_text(src.replace('"a/b"', "'a/' + 'c'"))
    import pytest

    with pytest.raises(ValueError, match="not a literal"):
        catalog.read_static()
