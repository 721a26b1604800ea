//! Impossible travel: the speed between the last successful sign-in and this one,
//! after allowing for both locations' GeoIP accuracy radius.

/// Great-circle distance in km (haversine, mean Earth radius).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().clamp(0.0, 1.0).asin()
}

/// What a trip between two sign-ins took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trip {
    pub distance_km: f64,
    /// Distance left after both accuracy radii are taken off.
    pub beyond_accuracy_km: f64,
    pub hours: f64,
    /// `beyond_accuracy_km / hours`; infinite for a distance covered in no time.
    pub speed_kmh: f64,
}

pub fn trip(from: (f64, f64, f64), to: (f64, f64, f64), seconds: u64) -> Trip {
    let d = distance_km(from.0, from.1, to.0, to.1);
    let beyond = (d - from.2 - to.2).max(0.0);
    let hours = seconds as f64 / 3600.0;
    let speed = if beyond == 0.0 {
        0.0
    } else if hours == 0.0 {
        f64::INFINITY
    } else {
        beyond / hours
    };
    Trip {
        distance_km: d,
        beyond_accuracy_km: beyond,
        hours,
        speed_kmh: speed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn london_to_new_york_is_about_5570_km() {
        let d = distance_km(51.5074, -0.1278, 40.7128, -74.0060);
        assert!((d - 5570.0).abs() < 20.0, "{d}");
    }

    #[test]
    fn accuracy_radii_absorb_short_hops() {
        let t = trip((51.5, -0.12, 200.0), (52.2, 0.12, 100.0), 60);
        assert_eq!(t.speed_kmh, 0.0, "{t:?}");
        let far = trip((51.5, -0.12, 10.0), (40.7, -74.0, 10.0), 3600);
        assert!(far.speed_kmh > 5000.0, "{far:?}");
        assert!(trip((51.5, -0.12, 1.0), (40.7, -74.0, 1.0), 0)
            .speed_kmh
            .is_infinite());
    }
}
