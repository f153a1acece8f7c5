"""The requests the recommender bench replays: what a person might type, and the catalogue entries they would accept.

The accepted names come from reading the names and descriptions of the real Higgsfield catalogue (styles for images,
motions for videos), chosen for what a sensible person would be happy with, not from what any recommender outputs.
"""

from dataclasses import dataclass

from generation.model_schema import IMAGE_TO_VIDEO, TEXT_TO_IMAGE, TEXT_TO_VIDEO


@dataclass(frozen=True)
class Case:
    text: str
    # The kind every option should have: text_to_image, text_to_video, or image_to_video when a photo is attached.
    kind: str
    # Style names for an image, motion names for a video; a pick of any one of them is a hit.
    accepted: tuple[str, ...]
    has_image: bool = False
    # The chat's earlier user messages, oldest first.
    history: tuple[str, ...] = ()


def image(text: str, *accepted: str, history: tuple[str, ...] = ()) -> Case:
    return Case(text=text, kind=TEXT_TO_IMAGE, accepted=accepted, history=history)


def video(text: str, *accepted: str, history: tuple[str, ...] = ()) -> Case:
    return Case(text=text, kind=TEXT_TO_VIDEO, accepted=accepted, history=history)


def animate(text: str, *accepted: str, history: tuple[str, ...] = ()) -> Case:
    return Case(text=text, kind=IMAGE_TO_VIDEO, accepted=accepted, has_image=True, history=history)


CASES: list[Case] = [
    # Landscapes and nature.
    image(
        "golden hour over a mountain lake, super wide",
        "mount view",
        "Mt. Fuji",
        "Sunset beach",
        "Foggy Morning",
        "Movie",
        "Realistic",
    ),
    image(
        "misty forest at dawn, quiet and moody", "Foggy Morning", "Clouded Dream", "Fairycore", "Rainy Day", "Tumblr"
    ),
    image(
        "something dreamy and soft with clouds",
        "Clouded Dream",
        "Foggy Morning",
        "Angel Wings",
        "Fairycore",
        "Coquette core",
        "Overexposed",
    ),
    image(
        "chilling at the beach in summer, turquoise water",
        "Sunbathing",
        "Amalfi Summer",
        "Sea breeze",
        "Sunset beach",
        "Office beach",
        "Sunburnt",
    ),
    image("moonlit beach at night with waves, kinda moody", "Night Beach", "Sea breeze", "Tumblr", "Movie"),
    # Portraits and people.
    image("portrait of my grandma smiling in her kitchen, natural light", "Realistic", "iPhone", "General", "Japandi"),
    image("headshot for linkedin, clean and professional", "Realistic", "General", "Gallery", "Quiet luxury"),
    image("a happy golden retriever running in the park", "Realistic", "iPhone", "General"),
    image(
        "selfie in the elevator mirror showing off my outfit",
        "Elevator Mirror",
        "0.5 Selfie",
        "0.5 Outfit",
        "iPhone",
        "RingSelfie",
    ),
    image("close up of my nails, pink french manicure", "Nail Check", "RingSelfie", "Coquette core"),
    image(
        "dewy glass skin makeup beauty shot",
        "Glazed doll skin makeup",
        "Babydoll MakeUp",
        "Object Makeup",
        "Selfcare",
        "Realistic",
        "Bleached Brows",
    ),
    image(
        "moody tumbler aesthetic pic of a girl lookin out the window",
        "Tumblr",
        "Through The Glass",
        "Rainy Day",
        "Foggy Morning",
        "90s Grain",
    ),
    # Fashion.
    image(
        "streetwear lookbook shoot in tokyo, bold colours",
        "Tokyo Streetstyle",
        "tokyo drift",
        "Gorpcore",
        "Street view",
        "Crossing the street",
        "Sitting on the Street",
        "Graffiti",
        "0.5 Outfit",
    ),
    image(
        "high fashion runway photo with backstage flash",
        "FashionShow",
        "Spotlight",
        "90’s Editorial",
        "Avant-garde",
        "Long legs",
        "2000s Fashion",
    ),
    image(
        "model in a sand storm in the desert, high fashion editorial",
        "Sand",
        "FashionShow",
        "Avant-garde",
        "90’s Editorial",
        "Long legs",
    ),
    image("y2k aesthetic photo, glossy and sparkly", "Y2K", "Y2K Posters", "2000s Fashion", "2000s Cam", "Bimbocore"),
    # Products.
    image(
        "minimal product photo of a ceramic coffee mug for my etsy shop",
        "Geominimal",
        "Japandi",
        "Gallery",
        "Quiet luxury",
        "General",
        "Realistic",
    ),
    image(
        "sneaker ad, the shoes are the hero, shot from ground level",
        "Shoe Check",
        "Gorpcore",
        "Street view",
        "0.5 Outfit",
        "Crossing the street",
        "Geominimal",
    ),
    image(
        "luxury watch advert, dark background, dramatic lighting",
        "Quiet luxury",
        "Spotlight",
        "hallway noir",
        "Gallery",
        "Geominimal",
    ),
    image(
        "I'm launching a small skincare brand and need a hero image for the homepage: a frosted glass serum bottle on "
        "a travertine pedestal, soft morning light, lots of negative space, calm and premium, nothing busy",
        "Geominimal",
        "Japandi",
        "Quiet luxury",
        "Gallery",
        "Selfcare",
        "General",
    ),
    # Food and drink.
    image("a bowl of ramen steaming on a wooden table", "Eating Food", "Japandi", "Realistic", "iPhone", "General"),
    image(
        "me eating pizza on the street, candid like a friend took it",
        "Eating Food",
        "iPhone",
        "Sitting on the Street",
        "0.5 Selfie",
        "Realistic",
        "DigitalCam",
        "Street view",
    ),
    image(
        "cocktails at a rooftop bar at sunset", "cocktail", "Amalfi Summer", "Sunset beach", "afterparty cam", "Movie"
    ),
    # Architecture and interiors.
    image(
        "brutalist concrete building, symetrical and minimalist",
        "Geominimal",
        "Japandi",
        "Gallery",
        "Flight mode",
        "General",
    ),
    image(
        "modern airport terminal with huge windows, travel vibes",
        "Flight mode",
        "Escalator",
        "Through The Glass",
        "Geominimal",
    ),
    image("a cat asleep on a bookshelf in a cozy library", "Library", "Japandi", "Realistic", "General", "iPhone"),
    image(
        "spa day at home with candles and skincare", "Selfcare", "Japandi", "Quiet luxury", "Glazed doll skin makeup"
    ),
    # Night, neon and rain.
    image(
        "neon lit street in the rain at midnight, cyberpunk",
        "Rainy Day",
        "Night rider",
        "2049",
        "tokyo drift",
        "hallway noir",
        "Subway",
        "Street view",
    ),
    image(
        "a girl with an umbrella on a rainy day in paris",
        "Rainy Day",
        "It’s french",
        "Through The Glass",
        "Street view",
        "Crossing the street",
        "Movie",
    ),
    image(
        "raindrops on a café window, cozy autumn afternoon",
        "Through The Glass",
        "Rainy Day",
        "Library",
        "Foggy Morning",
        "Selfcare",
    ),
    image(
        "picture of a futuristic city in 2049, blade runner style",
        "2049",
        "chrome exit",
        "Night rider",
        "tokyo drift",
        "Movie",
        "Subway",
    ),
    image(
        "security camera still of a guy in a parking lot at night", "CCTV", "DigitalCam", "Night rider", "Street view"
    ),
    # Vintage and film.
    image(
        "old film photo look, like my parents 80s holiday pics",
        "90s Grain",
        "Vintage PhotoBooth",
        "90’s Editorial",
        "DigitalCam",
        "Tumblr",
    ),
    image(
        "polaroid style picture of friends at a house party",
        "Vintage PhotoBooth",
        "afterparty cam",
        "Indie sleaze",
        "DigitalCam",
        "2000s Cam",
        "birthday mess",
        "90s Grain",
    ),
    image(
        "grunge 90s band photo in a dirty alley",
        "Grunge",
        "90s Grain",
        "Indie sleaze",
        "Street view",
        "brick shade",
        "Graffiti",
        "hallway noir",
    ),
    # Fantasy, surreal and illustration.
    image(
        "a knight with a sword standing on a windy hill, epic fantasy", "Swords Hill", "Medieval", "Movie", "Creatures"
    ),
    image(
        "fairy in an enchanted forest with glowing sparkles",
        "Fairycore",
        "Angel Wings",
        "Clouded Dream",
        "Coquette core",
        "Creatures",
    ),
    image(
        "angel with big white wings, heavenly soft light",
        "Angel Wings",
        "Fairycore",
        "Clouded Dream",
        "Invertethereal",
        "Overexposed",
    ),
    image(
        "surreal photo of a giant handbag next to a tiny person", "Giant Accessory", "Help It's Too Big", "Giant People"
    ),
    image("anime girl on a train platform at dusk, ghibli vibes", "Artwork", "Mixed Media", "Clouded Dream", "Subway"),
    image(
        "collage poster with torn paper and paint for an art zine",
        "Mixed Media",
        "Paper Face",
        "Artwork",
        "Y2K Posters",
        "Graffiti",
    ),
    image(
        "album cover for my r&b single, moody blue tones",
        "Rhyme & blues",
        "Tumblr",
        "hallway noir",
        "Y2K Posters",
        "90’s Editorial",
        "Mixed Media",
    ),
    # Horror and eerie.
    image(
        "creepy abandoned hallway, horror movie vibe",
        "hallway noir",
        "CCTV",
        "Invertethereal",
        "7\\",
        "Creatures",
        "Movie",
    ),
    image(
        "eerie ghost girl with inverted colours, unsettling",
        "Invertethereal",
        "7\\",
        "Creatures",
        "Glitch",
        "CCTV",
    ),
    image(
        "glitchy distorted digital portrait, vaporwave",
        "Glitch",
        "PixeletedFace",
        "7\\",
        "Invertethereal",
        "static glow",
        "Y2K Posters",
    ),
    # Sport and action stills.
    image(
        "skateboarder doing a trick at the skatepark, fisheye photo",
        "Fisheye",
        "Fish-eye twin",
        "360 cam",
        "0.5 Outfit",
        "Street view",
        "Graffiti",
    ),
    image(
        "football player celebrating a goal in a packed stadium, dramatic photo",
        "Spotlight",
        "Movie",
        "Realistic",
        "General",
    ),
    # Videos from words: aerial, drone.
    video(
        "video of a drone flying over a foggy forest",
        "Flying",
        "FPV Drone",
        "Crane Up",
        "Hyperlapse",
        "Timelapse Landscape",
        "Overhead",
    ),
    video(
        "aerial shot sweeping over the mountains at sunrise, as a video",
        "Flying",
        "FPV Drone",
        "Crane Up",
        "Jib Up",
        "Timelapse Landscape",
        "Earth Zoom Out",
        "Overhead",
    ),
    # Slow motion, orbit, rotation.
    video(
        "slow motion shot of a dancer spinning",
        "Bullet Time",
        "Glam",
        "360 Orbit",
        "Arc Left",
        "Arc Right",
        "Low Shutter",
    ),
    video(
        "360 spin around a pair of headphones for a product video",
        "3D Rotation",
        "Lazy Susan",
        "360 Orbit",
        "Robo Arm",
        "Arc Left",
        "Arc Right",
    ),
    # Zoom and dolly.
    video(
        "slow zoom in on a woman's eyes, tense thriller vibe, video",
        "Eyes In",
        "Zoom In",
        "Dolly In",
        "Super Dolly In",
        "Dolly Zoom In",
        "Crash Zoom In",
        "Dolly Zoom Out",
    ),
    video(
        "For my travel reel I want a smooth cinematic shot that starts close on me at the edge of a cliff and then "
        "pulls way back to reveal the whole coastline, like the ending of a movie",
        "Dolly Out",
        "Super Dolly Out",
        "Zoom Out",
        "Earth Zoom Out",
        "Crane Up",
        "Jib Up",
        "Flying",
    ),
    # Action, fire, explosions.
    video(
        "car chase through the city at night, action movie clip",
        "Car Chasing",
        "Car Grip",
        "Action Run",
        "Whip Pan",
        "Handheld",
        "FPV Drone",
        "Car Explosion",
    ),
    video(
        "a huge explosion destroys a building in slow mo",
        "Building Explosion",
        "Car Explosion",
        "Bullet Time",
        "Crash Zoom Out",
    ),
    video(
        "guy bursts into flames, fire everywhere, video",
        "Set on Fire",
        "Fire Breathe",
        "Melting",
        "Car Explosion",
        "Head Explosion",
        "Building Explosion",
    ),
    # Handheld and retro footage.
    video(
        "handheld vlog style video walking thru a busy market",
        "Handheld",
        "Head Tracking",
        "Snorricam",
        "Action Run",
        "Wiggle",
        "Dirty Lens",
    ),
    video(
        "vhs camcorder clip of a 90s birthday party", "VHS", "Super 8MM", "Handheld", "Dirty Lens", "Timelapse Human"
    ),
    video(
        "timelapse of clouds rolling over a valley", "Timelapse Landscape", "Hyperlapse", "Flying", "Static", "Crane Up"
    ),
    # Sport.
    video(
        "skater cruising down the street at sunset, chill vibe, video",
        "Skate Cruise",
        "Skateboard Glide",
        "Skateboard Ollie",
        "Dolly Left",
        "Dolly Right",
    ),
    video(
        "snowboarder carving through fresh powder video",
        "Snowboard Carving",
        "Snowboard Powder",
        "Ski Powder",
        "Ski Carving",
        "Downhill POV",
        "FPV Drone",
    ),
    video(
        "basketball dunk highlight clip, hype",
        "Basketball Dunks",
        "Bullet Time",
        "Action Run",
        "Crash Zoom In",
        "Low Shutter",
    ),
    video(
        "gritty boxing training montage video",
        "Boxing",
        "Face Punch",
        "Handheld",
        "Action Run",
        "Snorricam",
        "Dirty Lens",
    ),
    # Water, fashion, music, horror, effects.
    video(
        "video of glowing jellyfish floating around a woman in a dark room, dreamy",
        "Jelly Drift",
        "Glowing Fish",
        "Floating Fish",
        "Levitation",
    ),
    video(
        "flood water rising through a city street, disaster movie clip",
        "Flood",
        "Handheld",
        "Crane Up",
        "Dolly Out",
        "Super Dolly Out",
        "Flying",
    ),
    video(
        "runway model walking the catwalk at fashion week, video",
        "Catwalk",
        "Paparazzi",
        "Glam",
        "360 Orbit",
        "Head Tracking",
    ),
    video(
        "celebrity arriving on the red carpet with cameras flashing, video",
        "Paparazzi",
        "Glam",
        "Catwalk",
        "Crane Down",
    ),
    video(
        "rap music video, low angles, lots of swagger",
        "Rap Flex",
        "Double Dolly",
        "Moonwalk Left",
        "Moonwalk Right",
        "Fisheye",
        "Wiggle",
        "Low Shutter",
    ),
    video(
        "a creepy horror clip where black tears run down her face",
        "Black Tears",
        "Tentacles",
        "Dutch Angle",
        "Head Off",
        "Skin Surge",
        "Dolly Zoom In",
    ),
    video(
        "glitchy datamosh transition for an edit, video",
        "Datamosh",
        "VHS",
        "Roll Transition",
        "Whip Pan",
        "Abstract",
    ),
    # A photo attached.
    animate(
        "make my photo orbit like a music video",
        "360 Orbit",
        "Arc Left",
        "Arc Right",
        "Lazy Susan",
        "Rap Flex",
        "Glam",
        "Double Dolly",
    ),
    animate("animate this with a slow push in", "Dolly In", "Super Dolly In", "Zoom In", "Eyes In"),
    animate("make her levitate off the ground", "Levitation", "Soul Jump", "Angel Wings", "Flying"),
    animate("turn him into stone", "Medusa Gorgona", "Freezing", "Turning Metal", "Diamond", "Morphskin"),
    animate("wind blowing her hair really dramaticaly", "Wind to Face", "Glam", "Sand Storm"),
    animate(
        "make it look like a drone shot",
        "Flying",
        "FPV Drone",
        "Crane Up",
        "Overhead",
        "Jib Up",
        "Crane Over The Head",
    ),
    animate("set it on fire", "Set on Fire", "Fire Breathe", "Melting", "Car Explosion", "Building Explosion"),
    animate(
        "shaky handheld feel like a documentary",
        "Handheld",
        "Snorricam",
        "Head Tracking",
        "Wiggle",
        "Dirty Lens",
        "Action Run",
    ),
    # Follow-ups.
    video(
        "now make it a video",
        "Timelapse Landscape",
        "Flying",
        "Crane Up",
        "Dolly Out",
        "Super Dolly Out",
        "Dolly Left",
        "Dolly Right",
        "Static",
        history=("a quiet beach at sunset",),
    ),
    image(
        "more vintage, like 90s film",
        "90s Grain",
        "90’s Editorial",
        "Vintage PhotoBooth",
        "Tumblr",
        "DigitalCam",
        "2000s Cam",
        history=("portrait of a woman in a red dress standing in a field",),
    ),
    video(
        "now spin it around in a video",
        "3D Rotation",
        "Lazy Susan",
        "360 Orbit",
        "Robo Arm",
        "Arc Left",
        "Arc Right",
        history=("product shot of a white sneaker",),
    ),
    image(
        "add rain",
        "Rainy Day",
        "Night rider",
        "Through The Glass",
        "2049",
        "Street view",
        "tokyo drift",
        "hallway noir",
        history=("neon city street at night",),
    ),
    video(
        "fly over it like a drone",
        "Flying",
        "FPV Drone",
        "Crane Up",
        "Crane Over The Head",
        "Overhead",
        "Jib Up",
        history=("a castle on a cliff", "now as a video"),
    ),
    video(
        "as a video, first person",
        "Downhill POV",
        "Ski Carving",
        "Ski Powder",
        "FPV Drone",
        "Object POV",
        "Head Tracking",
        history=("a skier going down a steep mountain",),
    ),
]
