"""The official releases' facts: counts, class names and splits that tell an official copy from a look-alike.

Every figure here names its source; nothing is typed from memory. Where no source could be read offline (the
Kinetics-400 and VGG-Sound label strings), the names are taken from the user's official annotation file and only
the counts the releases state are checked. The facts are attached to the adapters
(:attr:`avbench.datasets.base.DatasetAdapter.official`) and compared by :mod:`avbench.datasets.identity`.

Coverage (``min_coverage``) follows the policy of the integrity issue (17): every listed file for the fixed sets
(ESC-50, DCASE 2013, UCF101, HMDB51), 0.90 of Kinetics-400 and 0.85 of VGG-Sound (YouTube copies always lack
videos). The gate that stops a run below it belongs to that issue; here it only decides ``official`` vs ``custom``.
"""
from __future__ import annotations

from avbench.datasets.base import OfficialFacts

#: ESC-50 categories in target order (target = index). Source: the release's ``meta/esc50.csv`` (column
#: ``category`` by ``target``), read from a verbatim copy (github FarukErat/ESC-50 ``meta/esc50.csv``).
ESC50_CATEGORIES = (
    "dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow",
    "rain", "sea_waves", "crackling_fire", "crickets", "chirping_birds", "water_drops", "wind", "pouring_water",
    "toilet_flush", "thunderstorm", "crying_baby", "sneezing", "clapping", "breathing", "coughing", "footsteps",
    "laughing", "brushing_teeth", "snoring", "drinking_sipping", "door_wood_knock", "mouse_click", "keyboard_typing",
    "door_wood_creaks", "can_opening", "washing_machine", "vacuum_cleaner", "clock_alarm", "clock_tick",
    "glass_breaking", "helicopter", "chainsaw", "siren", "car_horn", "engine", "train", "church_bells", "airplane",
    "fireworks", "hand_saw",
)
#: the ESC-10 subset (``esc10`` column True in the same file).
ESC10_CATEGORIES = frozenset({"dog", "rooster", "rain", "sea_waves", "crackling_fire", "crying_baby", "sneezing",
                              "clock_tick", "helicopter", "chainsaw"})

#: UCF101 classes in ``classInd.txt`` order (label = index). Source: ``ucfTrainTestlist/classInd.txt`` of
#: UCF101TrainTestSplits-RecognitionTask.zip, read from copies (github Rangozhang/Action_recognition_scripts_UCF101
#: ``classInd.txt``, the FingerRec list quoted in a public C3D review); the folder / list spelling
#: ``HandstandPushups`` is the class (the video files spell it ``HandStandPushups``).
UCF101_CLASSIND = (
    "ApplyEyeMakeup", "ApplyLipstick", "Archery", "BabyCrawling", "BalanceBeam", "BandMarching", "BaseballPitch",
    "Basketball", "BasketballDunk", "BenchPress", "Biking", "Billiards", "BlowDryHair", "BlowingCandles",
    "BodyWeightSquats", "Bowling", "BoxingPunchingBag", "BoxingSpeedBag", "BreastStroke", "BrushingTeeth",
    "CleanAndJerk", "CliffDiving", "CricketBowling", "CricketShot", "CuttingInKitchen", "Diving", "Drumming",
    "Fencing", "FieldHockeyPenalty", "FloorGymnastics", "FrisbeeCatch", "FrontCrawl", "GolfSwing", "Haircut",
    "Hammering", "HammerThrow", "HandstandPushups", "HandstandWalking", "HeadMassage", "HighJump", "HorseRace",
    "HorseRiding", "HulaHoop", "IceDancing", "JavelinThrow", "JugglingBalls", "JumpingJack", "JumpRope", "Kayaking",
    "Knitting", "LongJump", "Lunges", "MilitaryParade", "Mixing", "MoppingFloor", "Nunchucks", "ParallelBars",
    "PizzaTossing", "PlayingCello", "PlayingDaf", "PlayingDhol", "PlayingFlute", "PlayingGuitar", "PlayingPiano",
    "PlayingSitar", "PlayingTabla", "PlayingViolin", "PoleVault", "PommelHorse", "PullUps", "Punch", "PushUps",
    "Rafting", "RockClimbingIndoor", "RopeClimbing", "Rowing", "SalsaSpin", "ShavingBeard", "Shotput",
    "SkateBoarding", "Skiing", "Skijet", "SkyDiving", "SoccerJuggling", "SoccerPenalty", "StillRings",
    "SumoWrestling", "Surfing", "Swing", "TableTennisShot", "TaiChi", "TennisSwing", "ThrowDiscus",
    "TrampolineJumping", "Typing", "UnevenBars", "VolleyballSpiking", "WalkingWithDog", "WallPushups",
    "WritingOnBoard", "YoYo",
)

#: the 51 HMDB51 action classes, sorted (the class folders of hmdb51_org.rar and the ``<class>_test_splitK.txt``
#: prefixes). Source: dmlc/gluon-cv ``gluoncv/data/hmdb51/classification.py`` (HMDB51Attr.classes), agreeing
#: with several independent public copies.
HMDB51_CLASSES = (
    "brush_hair", "cartwheel", "catch", "chew", "clap", "climb", "climb_stairs", "dive", "draw_sword", "dribble",
    "drink", "eat", "fall_floor", "fencing", "flic_flac", "golf", "handstand", "hit", "hug", "jump", "kick",
    "kick_ball", "kiss", "laugh", "pick", "pour", "pullup", "punch", "push", "pushup", "ride_bike", "ride_horse",
    "run", "shake_hands", "shoot_ball", "shoot_bow", "shoot_gun", "sit", "situp", "smile", "smoke", "somersault",
    "stand", "swing_baseball", "sword", "sword_exercise", "talk", "throw", "turn", "walk", "wave",
)

#: DCASE 2013 Task 1 scene classes (sorted). Source: the challenge README, quoted in TWOEARS/blackboard-system
#: ``soundfiles/env_noise/README.txt`` (shared/research/avssl_code.md section 5).
DCASE2013_CLASSES = ("bus", "busystreet", "office", "openairmarket", "park", "quietstreet", "restaurant",
                     "supermarket", "tube", "tubestation")

ESC50 = OfficialFacts(
    n_samples=2000, n_classes=50, class_names=ESC50_CATEGORIES, per_class=40,
    splits={f"fold{k}": {"train": 1600, "test": 400} for k in range(1, 6)}, seconds=5.0,
    source="karolpiczak/ESC-50 README (2000 5-s clips, 50 classes x 40, 5 folds) and meta/esc50.csv (names)")

UCF101 = OfficialFacts(
    n_samples=13320, n_classes=101, class_names=UCF101_CLASSIND,
    splits={"split1": {"train": 9537, "test": 3783}, "split2": {"train": 9586, "test": 3734},
            "split3": {"train": 9624, "test": 3696}},
    source="Soomro et al. 2012 (13,320 clips, 101 classes); ucfTrainTestlist classInd.txt (names) and "
           "train/testlist0k.txt sizes as counted in issue 18")

HMDB51 = OfficialFacts(
    n_samples=6766, n_classes=51, class_names=HMDB51_CLASSES,
    splits={f"split{k}": {"train": 3570, "test": 1530} for k in range(1, 4)},
    per_class_splits={"train": 70, "test": 30},
    source="Kuehne et al. 2011 (6,766 clips, 51 classes); testTrainMulti_7030_splits: per split 70 train (1) and "
           "30 test (2) per class, the rest 0 (unused)")

DCASE2013 = OfficialFacts(
    n_samples=200, n_classes=10, class_names=DCASE2013_CLASSES,
    splits={"official": {"train": 100, "test": 100}}, per_class_splits={"train": 10, "test": 10}, seconds=30.0,
    source="IEEE AASP DCASE 2013 Task 1: 10 scene classes, 10 development + 10 test recordings of 30 s per class")

KINETICS400 = OfficialFacts(
    n_classes=400, per_class_range={"train": (250, 1000), "test": (None, 50)}, min_coverage=0.90,
    source="Kay et al. 2017 (arXiv:1705.06950: 400 classes; 250-1000 train, 50 validation clips per class) and the "
           "CVDF release page (validation: at most 50 per class); label strings from the user's annotation CSVs")

#: Kinetics-Sound: the 32 CrissCross / XKD classes (avbench.datasets.kinetics.KINETICS_SOUND_CLASSES, from
#: pritamqu/XKD), taken from an official Kinetics-400 annotation (all 400 labels present).
def kinetics_sound(classes: tuple[str, ...]) -> OfficialFacts:
    """The Kinetics-Sound facts for the class list ``classes`` (underscored Kinetics labels)."""
    return OfficialFacts(
        n_classes=len(classes), class_names=classes, per_class_range=KINETICS400.per_class_range,
        extra={"release_labels": 400}, min_coverage=KINETICS400.min_coverage,
        source="the CrissCross / XKD 32-class list (pritamqu/XKD codes/eval/datasets/cache/kinetics_sound) over an "
               "official Kinetics-400 annotation; " + KINETICS400.source)


VGGSOUND = OfficialFacts(
    n_classes=309, n_classes_accepted=(310,), per_class_range={"all": (200, None)}, min_coverage=0.85, seconds=10.0,
    source="Chen et al. 2020 (VGG-Sound: 309 classes, at least 200 10-s clips per class); the release's "
           "vggsound.csv may list 310 label strings (accepted); label strings from the user's vggsound.csv")
