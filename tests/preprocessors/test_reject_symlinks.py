"""RejectSymlinks: a submission with any symlink is refused before anything is read."""

import os

from autograder.preprocessors.reject_symlinks import find_symlinks


def test_find_symlinks_lists_every_link_and_follows_none(tmp_path):
    """Links anywhere below (file, dangling, directory) and the folder or its parent itself."""
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "secret").write_text("x")
    folder = tmp_path / "student" / "a"
    (folder / "sub").mkdir(parents=True)
    (folder / "plain.txt").write_text("ok")
    assert find_symlinks(folder, parents=1) == []
    os.symlink(outside / "deep" / "secret", folder / "sub" / "file_link")
    os.symlink(tmp_path / "nowhere", folder / "dangling")
    os.symlink(outside, folder / "dir_link")
    assert find_symlinks(folder) == sorted(
        [folder / "sub" / "file_link", folder / "dangling", folder / "dir_link"]
    )
    linked = tmp_path / "linked_student"
    os.symlink(tmp_path / "student", linked)
    assert find_symlinks(linked / "a", parents=1) == [linked]
    assert find_symlinks(linked / "a") != [linked]  # parents=0: the student folder unchecked
